"""Step 3, training, in parts: ``config`` (the settings and what a run reports; no torch), ``data`` (the filelist,
spectrograms and batches), ``losses``, ``step`` (one discriminator + generator step), ``metrics`` (metrics.jsonl,
TensorBoard) and ``loop`` (the epochs, resuming, saving, exporting a small model)."""
