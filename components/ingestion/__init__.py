"""Corpus ingestion: multilingual text in six layouts -> TFX Examples with normalised language tags.

Entry points: `beam_job.run_ingestion` (plain function), `component.CorpusIngestion` (TFX),
`cli.ingest` (`mbert ingest`), `io.read_examples` (read the output back). Submodules are not
imported here so that `languages` and `readers` stay cheap to import.
"""
