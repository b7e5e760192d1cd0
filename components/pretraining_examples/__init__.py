"""Pretraining instances for masked LM + next-sentence prediction (components/contracts.py), built with Beam."""
