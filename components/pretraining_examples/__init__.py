"""Pretraining instances for masked LM + next-sentence prediction (contract 4), built with Beam."""
