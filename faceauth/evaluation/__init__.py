"""What a model is judged by: metrics, the verdict against baselines, the operating point, deployment cost,
ONNX export and parity, the evaluation record. May import faceauth.io and faceauth.training."""
