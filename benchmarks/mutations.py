"""Plant one plausible bug at a time in a copy of the tree and show that the tests catch it:

    python benchmarks/mutations.py               # every mutation (a few minutes on 2 cores)
    python benchmarks/mutations.py --only pad    # those whose name contains "pad" (repeatable)

Each mutation replaces one exact piece of source (which must occur exactly once, so a refactor that
moves it fails loudly here instead of silently testing nothing), runs the tests that should notice,
and restores the file. "caught" means those tests failed with the bug in place; the last column
is how long they took. The working tree is never touched: the copy lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("best trial: max and min swapped", "faceauth/search/best.py",
             '(max if mode == "max" else min)(candidates', '(min if mode == "max" else max)(candidates',
             ("tests/test_decisions.py",)),
    Mutation("fusion evaluation scores the validation split", "faceauth/tasks/fusion/task.py",
             'split_name: str = "test") -> Evaluation:', 'split_name: str = "val") -> Evaluation:',
             ("tests/test_fusion_train.py::test_train_evaluate_export_round_trip",)),
    Mutation("pad: APCER boundary < becomes <=", "faceauth/metrics.py",
             "apcer = float(np.mean(attack < threshold))", "apcer = float(np.mean(attack <= threshold))",
             ("tests/test_decisions.py", "tests/test_metrics.py")),
    Mutation("pad: BPCER boundary >= becomes >", "faceauth/metrics.py",
             "bpcer = float(np.mean(bonafide >= threshold))", "bpcer = float(np.mean(bonafide > threshold))",
             ("tests/test_decisions.py", "tests/test_metrics.py")),
    Mutation("search space: log_int upper bound exclusive", "faceauth/search/space.py",
             "tune.lograndint(int(p.low), int(p.high) + 1)", "tune.lograndint(int(p.low), int(p.high))",
             ("tests/test_decisions.py",)),
    Mutation("search space: int upper bound exclusive", "faceauth/search/space.py",
             "tune.qrandint(int(p.low), int(p.high), int(p.step or 1))", "tune.randint(int(p.low), int(p.high))",
             ("tests/test_decisions.py",)),
    Mutation("a diverged trial is retried (marker ignored)", "faceauth/search/runner.py",
             "    if filesystem.get_file_info(marker).type == pyarrow.fs.FileType.File:", "    if False:",
             ("tests/test_tune.py::test_a_diverging_trial_fails_with_its_reason_and_the_search_goes_on",)),
    Mutation("--resume starts a fresh search of the same size", "faceauth/search/runner.py",
             "    if options.resume:\n        # The searcher comes back", "    if False:\n        # The searcher comes back",
             ("tests/test_tune.py::test_resume_after_the_driver_is_killed",)),
    Mutation("--resume skips the run folder's seal", "faceauth/search/runner.py",
             "    verify_run_folder(run_path)", "    pass",
             ("tests/test_resume.py",)),
    Mutation("checkpoints load with weights_only=False", "faceauth/checkpoint.py",
             'torch.load(path, map_location="cpu", weights_only=True)', 'torch.load(path, map_location="cpu", weights_only=False)',
             ("tests/test_fusion_train.py::test_checkpoint_refuses_pickled_code", "tests/test_bad_inputs.py")),
    Mutation("outputs in a read-only folder accepted until the end", "faceauth/outputs.py",
             "if not os.access(parent, os.W_OK):", "if False:",
             ("tests/test_bad_inputs.py",)),
    Mutation("the bad-input check of embedding column types removed", "faceauth/tasks/fusion/data.py",
             "                or not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):",
             "                or False:",
             ("tests/test_bad_inputs.py",)),
    Mutation("the optimiser never steps", "faceauth/fit.py",
             "    loss.backward()\n    optimizer.step()", "    loss.backward()",
             ("tests/test_it_learns.py",)),
    Mutation("gradients accumulate across steps (zero_grad removed)", "faceauth/fit.py",
             "    optimizer.zero_grad(set_to_none=True)\n", "",
             ("tests/test_it_learns.py",)),
    Mutation("liveness trains on flipped labels", "faceauth/tasks/liveness/training.py",
             "targets[index].to(device), pos_weight", "1 - targets[index].to(device), pos_weight",
             ("tests/test_it_learns.py",)),
    Mutation("temporal trains on flipped labels", "faceauth/tasks/temporal/training.py",
             "targets = torch.from_numpy(y[index]).to(device)", "targets = 1 - torch.from_numpy(y[index]).to(device)",
             ("tests/test_it_learns.py",)),
    Mutation("fusion pairs a batch with the wrong identities", "faceauth/tasks/fusion/training.py",
             "loss = self.loss_fn(fused.float(), self.y_train[index])",
             "loss = self.loss_fn(fused.float(), self.y_train[index].roll(1))",
             ("tests/test_it_learns.py",)),
    Mutation("contrastive: genuine pairs include each sample with itself", "faceauth/losses.py",
             "genuine = distance[same & off_diagonal]", "genuine = distance[same]",
             ("tests/test_losses.py",)),
    Mutation("arcface: margin subtracted from the angle", "faceauth/losses.py",
             "theta.gather(1, labels[:, None]) + self.margin", "theta.gather(1, labels[:, None]) - self.margin",
             ("tests/test_losses.py",)),
    Mutation("arcface: the configured scale is dropped", "faceauth/losses.py",
             "return ArcFaceLoss(embedding_dim, num_classes, margin, scale)", "return ArcFaceLoss(embedding_dim, num_classes, margin)",
             ("tests/test_losses.py",)),
    Mutation("fit: a tie counts as an improvement", "faceauth/fit.py",
             'return value > best if self.mode == "max" else value < best',
             'return value >= best if self.mode == "max" else value <= best',
             ("tests/test_fit.py",)),
    Mutation("fit: beats_start is ignored", "faceauth/fit.py",
             "improved = objective.better(value, best) and (best_epoch != 0 or beats_start is None or beats_start())",
             "improved = objective.better(value, best)",
             ("tests/test_fit.py",)),
    Mutation("cost: latency timed at batch 2", "faceauth/cost.py",
             "spec.example_inputs(1, False))}", "spec.example_inputs(2, False))}",
             ("tests/test_cost.py",)),
    Mutation("protocol: the headline verdict is the best fold's", "faceauth/protocol_run.py",
             'pick = max if mode == "min" else min', 'pick = min if mode == "min" else max',
             ("tests/test_protocols.py::test_the_headline_verdict_is_the_worst_folds",)),
    Mutation("protocol evaluation scores each fold's validation side", "faceauth/protocol_run.py",
             'evaluation = task.evaluate(checkpoint, str(fold.root / "test"))',
             'evaluation = task.evaluate(checkpoint, str(fold.root / "val"))',
             ("tests/test_protocols.py::test_search_on_leave_one_attack_out_reports_folds_and_aggregate",)),
    Mutation('verdict: a min-mode interval read the wrong way round', 'faceauth/verdict.py',
             'gain_low, gain_high = (low, high) if mode == "max" else (-high, -low)',
             'gain_low, gain_high = (low, high) if mode == "max" else (-low, -high)',
             ('tests/test_verdict.py',)),
    Mutation('verdict: gains on a min metric not negated', 'faceauth/verdict.py',
             'gains = samples if mode == "max" else -samples',
             'gains = samples',
             ('tests/test_verdict.py',)),
    Mutation("verdict: a genuine pair's identity weighted twice", 'faceauth/verdict.py',
             'np.where(groups[:, 0] == groups[:, 1], first, first * second)',
             '(first * second)',
             ('tests/test_verdict.py',)),
    Mutation('verdict: apcer_worst takes the best attack type', 'faceauth/verdict.py',
             'return max(rates.values()) if name == "apcer_worst"',
             'return min(rates.values()) if name == "apcer_worst"',
             ('tests/test_verdict.py',)),
    Mutation('metrics: EER threshold interpolated from the wrong end', 'faceauth/metrics.py',
             'curve.thresholds[i - 1] + t * (curve.thresholds[i] - curve.thresholds[i - 1])',
             'curve.thresholds[i] + t * (curve.thresholds[i - 1] - curve.thresholds[i])',
             ('tests/test_metrics.py',)),
    Mutation('operating point: the bounded class swapped', 'faceauth/operating_point.py',
             'bounded_count = len(val_negative) if target == "far" else len(val_positive)',
             'bounded_count = len(val_positive) if target == "far" else len(val_negative)',
             ('tests/test_objectives.py',)),
    Mutation('operating point: threshold logit of the wrong sign', 'faceauth/operating_point.py',
             'np.log(threshold / (1 - threshold))',
             'np.log((1 - threshold) / threshold)',
             ('tests/test_objectives.py',)),
    Mutation('front: objective modes ignored in the best pick', 'faceauth/search/front.py',
             'signs = {o.metric: 1 if o.mode == "min" else -1 for o in space.objectives}',
             'signs = {o.metric: 1 for o in space.objectives}',
             ('tests/test_objectives.py',)),
    Mutation('front: a trial without a checkpoint can be picked', 'faceauth/search/front.py',
             'usable = [r for r in records if r.checkpoint is not None and all(',
             'usable = [r for r in records if all(',
             ('tests/test_objectives.py',)),
    Mutation('knee: a tie goes to the worse primary objective', 'faceauth/search/objectives.py',
             'key=lambda i: (distances[i], oriented[i][0])',
             'key=lambda i: (distances[i], -oriented[i][0])',
             ('tests/test_objectives.py',)),
    Mutation('operating point chosen on the test split', 'faceauth/search/best.py',
             'task.evaluate(checkpoint, None, "val")',
             'task.evaluate(checkpoint, None, "test")',
             ('tests/test_objectives.py',)),
    Mutation('search space: defaults override also_evaluate points', 'faceauth/search/space.py',
             'extra = [{**defaults, **{k: self.parameters[k].encode(v) for k, v in point.items()}} for point in self.also_evaluate]',
             'extra = [{**{k: self.parameters[k].encode(v) for k, v in point.items()}, **defaults} for point in self.also_evaluate]',
             ('tests/test_search_space.py',)),
    Mutation('search space: a default at the upper end refused', 'faceauth/search/space.py',
             'return self.low <= value <= self.high',
             'return self.low <= value < self.high',
             ('tests/test_search_space.py',)),
    Mutation('search space: log_int loses its log scale in Optuna', 'faceauth/search/space.py',
             'log = p.type == "log_int"',
             'log = False',
             ('tests/test_decisions.py',)),
    Mutation('fusion refit trains one epoch too few', 'faceauth/tasks/fusion/task.py',
             '        for epoch in range(1, epochs + 1):\n            run.train_epoch(epoch)',
             '        for epoch in range(1, epochs):\n            run.train_epoch(epoch)',
             ('tests/test_fusion_train.py',)),
    Mutation('warm start accepts a run of the opposite mode', 'faceauth/search/warm_start.py',
             'for key in ("task", "metric", "mode", "parameters")',
             'for key in ("task", "metric", "parameters")',
             ('tests/test_warm_start.py',)),
    Mutation('liveness: a stray class folder makes a data root a split', 'faceauth/tasks/liveness/data.py',
             'if all((path / c).is_dir() for c in CLASSES)',
             'if any((path / c).is_dir() for c in CLASSES)',
             ('tests/test_liveness_data.py',)),
    Mutation("a trial's value is its first kept best, not its last", 'faceauth/search/best.py',
             '            best = kept[-1]',
             '            best = kept[0]',
             ('tests/test_decisions.py',)),
    Mutation('a trial that ran every epoch is not completed', 'faceauth/search/best.py',
             'elif epochs_run >= epochs or last.get("completed"):',
             'elif epochs_run > epochs or last.get("completed"):',
             ('tests/test_decisions.py',)),
    Mutation('a scheduler stop is recorded as an early stop', 'faceauth/search/best.py',
             '            status = "stopped_by_scheduler"',
             '            status = "early_stopped"',
             ('tests/test_decisions.py',)),
    Mutation("a failed trial's reason is Ray's wrapping line", 'faceauth/search/best.py',
             'return (ours or lines or [type(error).__name__])[-1]',
             'return (lines or [type(error).__name__])[0]',
             ('tests/test_decisions.py',)),
    Mutation('seal: a key others can read is accepted', 'faceauth/search/seal.py',
             'if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or',
             'if False and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) or',
             ('tests/test_resume.py',)),
    Mutation("seal: a trial's error.pkl is not covered", 'faceauth/search/seal.py',
             '    if relpath.rsplit("/", 1)[-1] == "error.pkl":\n        return True',
             '    if relpath.rsplit("/", 1)[-1] == "error.pkl":\n        return False',
             ('tests/test_resume.py',)),
    Mutation("seal: the manifest's own MAC is not checked", 'faceauth/search/seal.py',
             'or not hmac.compare_digest(mac, _manifest_mac(key, files))',
             'or False',
             ('tests/test_resume.py',)),
    Mutation("fusion merge: the second set's identities collide with the first's", 'faceauth/tasks/fusion/data.py',
             'labels = np.concatenate([first.labels, second.labels + len(first.identities)])',
             'labels = np.concatenate([first.labels, second.labels])',
             ('tests/test_fusion_data.py',)),
    Mutation('fusion batches: batch_size identities per batch', 'faceauth/tasks/fusion/data.py',
             'per_batch = max(2, batch_size // per_identity)',
             'per_batch = max(2, batch_size)',
             ('tests/test_fusion_data.py',)),
    Mutation('fusion split: a too-small test split accepted', 'faceauth/tasks/fusion/data.py',
             'if n_val < 2 or (test_fraction and n_test < 2) or count - n_val - n_test < 2:',
             'if n_val < 2 or count - n_val - n_test < 2:',
             ('tests/test_fusion_data.py',)),
    Mutation('fusion whitening: shrinkage towards the wrong end', 'faceauth/tasks/fusion/linear.py',
             'regularised = (1.0 - shrinkage) * self.eigenvalues + shrinkage * self.eigenvalues.mean()',
             'regularised = shrinkage * self.eigenvalues + (1.0 - shrinkage) * self.eigenvalues.mean()',
             ('tests/test_fusion_linear.py',)),
    Mutation('fusion LDA: directions not weighted by their between-class share', 'faceauth/tasks/fusion/linear.py',
             'weight = whitening @ directions[:keep].T * np.sqrt(between[:keep] / (1.0 + between[:keep]))',
             'weight = whitening @ directions[:keep].T',
             ('tests/test_fusion_linear.py',)),
    Mutation('embedding cache: channel order not in its key', 'faceauth/tasks/fusion/embedders.py',
             '"default_size": self.default_size, "channel_order": self.channel_order, ',
             '"default_size": self.default_size, ',
             ('tests/test_embed.py',)),
    Mutation('embedding cache: an edited image of the same size reused', 'faceauth/tasks/fusion/image_embeddings.py',
             'row[:2] == (image.size, image.mtime_ns)',
             'row[0] == image.size',
             ('tests/test_embed.py',)),
    Mutation('liveness cache: modification time not in its key', 'faceauth/tasks/liveness/cache.py',
             '[(f.relpath, f.size, f.mtime_ns) for f in files]',
             '[(f.relpath, f.size) for f in files]',
             ('tests/test_liveness_model.py',)),
    Mutation('liveness input: pixels not scaled to [0, 1]', 'faceauth/tasks/liveness/model.py',
             '.permute(0, 3, 1, 2).float() / 255',
             '.permute(0, 3, 1, 2).float()',
             ('tests/test_liveness_model.py',)),
    Mutation('liveness blur: sigma scaled by the channel count', 'faceauth/tasks/liveness/augment.py',
             'max_sigma = 1.5 * strength * x.shape[-1] / 64',
             'max_sigma = 1.5 * strength * x.shape[1] / 64',
             ('tests/test_liveness_model.py',)),
    Mutation('imaging: the longer side resized (squashed, not cropped)', 'faceauth/imaging.py',
             'scale = size / min(width, height)',
             'scale = size / max(width, height)',
             ('tests/test_imaging.py',)),
    Mutation('ONNX parity: a NaN difference passes', 'faceauth/onnx_export.py',
             'if not max_abs <= PARITY_TOLERANCE:',
             'if max_abs > PARITY_TOLERANCE:',
             ('tests/test_onnx_export.py',)),
    Mutation("temporal noise: not scaled by each feature's spread", 'faceauth/tasks/temporal/data.py',
             'x = x + (rng.standard_normal(x.shape) * (0.1 * strength) * feature_std).astype(np.float32)',
             'x = x + (rng.standard_normal(x.shape) * (0.1 * strength)).astype(np.float32)',
             ('tests/test_temporal_data.py',)),
    Mutation('temporal dropped frames: a window wraps back to its end', 'faceauth/tasks/temporal/data.py',
             'dropped = np.flatnonzero(rng.random(seq_len - 1) < 0.15 * strength) + 1',
             'dropped = np.flatnonzero(rng.random(seq_len - 1) < 0.15 * strength)',
             ('tests/test_temporal_data.py',)),
    Mutation('temporal scaling: a constant feature divided by 1e-6', 'faceauth/tasks/temporal/data.py',
             'np.where(std > 1e-6, std, 1.0).astype(np.float32)',
             'np.where(std > 1e-6, std, 1e-6).astype(np.float32)',
             ('tests/test_temporal_data.py',)),
    Mutation('temporal: a video exactly one window long refused', 'faceauth/tasks/temporal/videos.py',
             '    if count < needed:',
             '    if count <= needed:',
             ('tests/test_temporal_data.py',)),
    Mutation('clip head: the weakest penalty wins a tie', 'faceauth/tasks/temporal/clip_head.py',
             'key = (round(eer, 9), -round(auc, 9), -l2)',
             'key = (round(eer, 9), -round(auc, 9), l2)',
             ('tests/test_temporal_baselines.py',)),
    Mutation('temporal video score: the mean logit, not probability', 'faceauth/tasks/temporal/model.py',
             'torch.cat([torch.sigmoid(model(x[i:i + batch].to(device)).float()).cpu()',
             'torch.cat([model(x[i:i + batch].to(device)).float().cpu()',
             ('tests/test_temporal_model.py',)),
    Mutation('baselines: the penalty with the highest validation EER', 'faceauth/tasks/temporal/baselines.py',
             'if best is None or eer < best[0] - 1e-12:',
             'if best is None or eer > best[0] + 1e-12:',
             ('tests/test_temporal_baselines.py',)),
    Mutation('logistic baseline: class weights swapped', 'faceauth/tasks/temporal/baselines.py',
             'sample = np.where(y > 0.5, 0.5 / max(y.sum(), 1.0), 0.5 / max((1 - y).sum(), 1.0))',
             'sample = np.where(y > 0.5, 0.5 / max((1 - y).sum(), 1.0), 0.5 / max(y.sum(), 1.0))',
             ('tests/test_temporal_baselines.py',)),
    Mutation('LBP baseline fitted on the validation side', 'faceauth/tasks/lbp_baseline.py',
             'lambda l2: fit_logistic(train_x, train_attack, l2)',
             'lambda l2: fit_logistic(val_x, val_attack, l2)',
             ('tests/test_protocols.py::test_lbp_baseline_is_fitted_on_the_training_side',)),
    Mutation('LBP bootstrap units: side-by-side images merged', 'faceauth/tasks/lbp_baseline.py',
             'len(parts) == 2 else 3',
             'len(parts) <= 3 else 3',
             ('tests/test_protocols.py::test_images_side_by_side_in_an_attack_type_folder_are_separate_units',)),
    Mutation('PAD threshold logit of the wrong sign', 'faceauth/tasks/pad.py',
             'return math.log(threshold / (1 - threshold)) if',
             'return -math.log(threshold / (1 - threshold)) if',
             ('tests/test_temporal_baselines.py',)),
    Mutation('concurrency: --max-concurrent ignored', 'faceauth/search/runner.py',
             'return max(1, min(fit, options.max_concurrent or fit, options.trials))',
             'return max(1, min(fit, options.trials))',
             ('tests/test_search_space.py',)),
    Mutation('resources: a worker checked against the cluster, not a node', 'faceauth/search/runner.py',
             '    if cpus > largest_cpu:',
             '    if cpus > total_cpu:',
             ('tests/test_search_space.py',)),
    Mutation("resources: a trial's workers not multiplied", 'faceauth/search/runner.py',
             '(gpus and workers * gpus > total_gpu + 1e-9)',
             '(gpus and gpus > total_gpu + 1e-9)',
             ('tests/test_search_space.py',)),
    Mutation("checkpoint: the state dict aliases the live weights", "faceauth/checkpoint.py",
             "v.detach().cpu().clone()", "v.detach().cpu()",
             ("tests/test_fit.py",)),
    Mutation("verdict interval: labelled 95% but at the 80% level", "faceauth/verdict.py",
             "LEVEL = 0.95", "LEVEL = 0.80",
             ("tests/test_verdict_interval.py",)),
    Mutation("verdict interval: quantiles narrowed to 5% and 95%", "faceauth/verdict.py",
             "np.quantile(samples, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])", "np.quantile(samples, [1 - LEVEL, LEVEL])",
             ("tests/test_verdict_interval.py",)),
    Mutation("verdict interval: metric_intervals quantiles narrowed", "faceauth/verdict.py",
             "np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])", "np.quantile(values, [0.1, 0.9])",
             ("tests/test_verdict_interval.py",)),
    Mutation("verdict interval: a resample draws twice as many units as there are", "faceauth/verdict.py",
             "    samples = {name: [] for name in systems[1:]}\n    for _ in range(resamples):\n"
             "        counts = np.bincount(rng.integers(0, units.size, units.size), minlength=units.size)",
             "    samples = {name: [] for name in systems[1:]}\n    for _ in range(resamples):\n"
             "        counts = np.bincount(rng.integers(0, units.size, 2 * units.size), minlength=units.size)",
             ("tests/test_verdict_interval.py",)),
    Mutation("window statistics: frame-to-frame change keeps its sign", "faceauth/tasks/temporal/model.py",
             "change = (x[:, 1:] - x[:, :-1]).abs().sum(dim=1)", "change = (x[:, 1:] - x[:, :-1]).sum(dim=1)",
             ("tests/test_window_statistics.py",)),
    Mutation("window statistics: spread is the variance", "faceauth/tasks/temporal/model.py",
             ".square().mean(dim=1).add(1e-6).sqrt()", ".square().mean(dim=1).add(1e-6)",
             ("tests/test_window_statistics.py",)),
    Mutation("window statistics: spread averaged over the features", "faceauth/tasks/temporal/model.py",
             "spread = (x - mean[:, None]).square().mean(dim=1)", "spread = (x - mean[:, None]).square().mean(dim=2)",
             ("tests/test_window_statistics.py",)),
    Mutation("window statistics: change divided by the frames, not the steps", "faceauth/tasks/temporal/model.py",
             "/ max(x.shape[1] - 1, 1)", "/ max(x.shape[1], 1)",
             ("tests/test_window_statistics.py",)),
    Mutation("window statistics: a window's frames newest first", "faceauth/tasks/temporal/data.py",
             "windows.append(features[start:start + span:stride])", "windows.append(features[start:start + span:stride][::-1])",
             ("tests/test_window_statistics.py",)),
    Mutation("window statistics: the video score sums its windows", "faceauth/tasks/temporal/clip_head.py",
             "weights=probabilities, minlength=videos) / np.bincount(owners, minlength=videos)",
             "weights=probabilities, minlength=videos)",
             ("tests/test_window_statistics.py",)),
    Mutation("window statistics: clip means over the features", "faceauth/tasks/temporal/baselines.py",
             "np.stack([f.astype(np.float64).mean(axis=0) for f in features])",
             "np.stack([f.astype(np.float64).mean(axis=1) for f in features])",
             ("tests/test_window_statistics.py",)),
    Mutation("frame features: brightness change loses its sign", "faceauth/tasks/temporal/features.py",
             "luma.mean() - previous.mean()]", "abs(luma.mean() - previous.mean())]",
             ("tests/test_window_statistics.py",)),
    Mutation("frame features: face/background motion contrast reversed", "faceauth/tasks/temporal/features.py",
             "(centre - border) / (centre + border + 1e-6)", "(border - centre) / (centre + border + 1e-6)",
             ("tests/test_window_statistics.py",)),
    Mutation("frame features: rigid shift of the wrong sign", "faceauth/tasks/temporal/features.py",
             "basis = np.stack([-gy, -gx,", "basis = np.stack([gy, gx,",
             ("tests/test_window_statistics.py",)),
    Mutation("frame features: flicker keeps the brightness trend", "faceauth/tasks/temporal/features.py",
             "series = series - np.polyval(np.polyfit(t, series, 1), t)", "series = series - series.mean()",
             ("tests/test_window_statistics.py",)),
    Mutation("frame features: flicker read over the first frames, not the last", "faceauth/tasks/temporal/features.py",
             "series = np.asarray(brightness[-FLICKER_FRAMES:], dtype=np.float64)",
             "series = np.asarray(brightness[:FLICKER_FRAMES], dtype=np.float64)",
             ("tests/test_window_statistics.py",)),
    Mutation("threshold gap: the PAD threshold left at the edge score", "faceauth/metrics.py",
             "return centre_in_gap(equal_error_rate(curve)[1], curve, logit=True)", "return equal_error_rate(curve)[1]",
             ("tests/test_threshold_gap.py",)),
    Mutation("threshold gap: probabilities split in plain units, not the logit", "faceauth/metrics.py",
             "if logit and 0.0 < low and high < 1.0:", "if False:",
             ("tests/test_threshold_gap.py",)),
    Mutation("threshold gap: a target threshold left at the edge score", "faceauth/operating_point.py",
             'return centre_in_gap(threshold, curve, logit=target == "apcer")', "return threshold",
             ("tests/test_threshold_gap.py",)),
    Mutation("threshold gap: the few-samples warning never raised", "faceauth/metrics.py",
             "if min(positives, negatives) >= MIN_THRESHOLD_SAMPLES:", "if True:",
             ("tests/test_threshold_gap.py",)),
)


def copy_tree(destination: Path) -> None:
    ignore = shutil.ignore_patterns(".git", ".venv", "runs", "logs", "__pycache__", ".pytest_cache", "benchmarks/results",
                                    "*.egg-info")
    shutil.copytree(ROOT, destination, ignore=ignore, symlinks=True)


def pytest(tree: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                          cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)


def run(mutation: Mutation, tree: Path) -> tuple[bool, float]:
    source = tree / mutation.path
    original = source.read_text()
    count = original.count(mutation.old)
    if count != 1:
        raise SystemExit(f"{mutation.name}: the code to mutate occurs {count} times in {mutation.path}; update this script")
    source.write_text(original.replace(mutation.old, mutation.new))
    started = time.perf_counter()
    try:
        failed = pytest(tree, mutation.tests).returncode != 0
    finally:
        source.write_text(original)
    return failed, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="run the mutations whose name contains this text (repeatable)")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or any(text in m.name for text in args.only)]
    with tempfile.TemporaryDirectory(prefix="faceauth-mutations-") as folder:
        tree = Path(folder) / "tree"
        copy_tree(tree)
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        baseline = pytest(tree, tests)
        if baseline.returncode != 0:  # a test that fails without a bug proves nothing about one
            raise SystemExit(f"{baseline.stdout[-3000:]}\nthe tests fail on the unmutated tree: python -m pytest {' '.join(tests)}")
        rows = []
        for mutation in chosen:
            caught, seconds = run(mutation, tree)
            rows.append((mutation.name, "caught" if caught else "MISSED", seconds))
            print(f"{mutation.name:<58} {rows[-1][1]:<7} {seconds:6.1f} s", flush=True)
    missed = sum(r[1] == "MISSED" for r in rows)
    print(f"\n{len(rows) - missed} of {len(rows)} planted bugs caught")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
