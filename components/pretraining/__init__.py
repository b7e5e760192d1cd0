"""Pretraining Trainer module: MLM + NSP training of the encoder (TFX Trainer `run_fn`)."""
