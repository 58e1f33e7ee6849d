"""Reading and writing, for every layer: errors that name the file and the fix, logging, atomic files and
the run log, output checks, images, the data layout's names, terminal formatting. Imports nothing outside faceauth.io."""
