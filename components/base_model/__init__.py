"""Start from an existing BERT checkpoint: Google's TF1 release, Hugging Face or keras-hub.

`checkpoint.inspect_checkpoint` / `checkpoint.load_checkpoint` read the three formats into one
`BertBackbone` + pretraining heads + vocabulary; `outputs` writes them as the pipeline's
Vocabulary artifact, an encoder export or a keras-hub preset; `component.BaseModelImport`
is the TFX face, `cli` the `mbert checkpoint` command.
"""
