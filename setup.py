"""mbert-pipeline: a TFX pipeline that trains a multilingual BERT end to end."""

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "tfx[kfp]==1.16.0",
    "tensorflow==2.16.2",
    "tensorflow-text==2.16.1",
    "keras==3.12.4",
    "keras-nlp==0.25.1",
    "apache-beam[gcp]",
    "tensorflow-model-analysis==0.47.1",
    "ml-metadata==1.16.0",
    "kfp==2.5.0",
    "google-cloud-aiplatform",
    # tensorflow-transform 1.16 imports dill without declaring it.
    "dill",
    "click",
    "PyYAML",
    "tqdm",
    "pillow",
    # Hugging Face checkpoints (model.safetensors), read by keras-hub and by base-model import.
    "safetensors==0.8.0",
    # keras-hub 0.25.1 imports it whenever it reads a Hugging Face folder (any model type).
    "sentencepiece==0.2.3",
    "numpy<2",
    "protobuf==3.20.3",
    # The embedded default corpus of the demo (BSD, 29 languages).
    "chatterbot-corpus",
]

setup(
    name="mbert-pipeline",
    version="0.1.0",
    description="A TFX pipeline that trains, evaluates and ships a multilingual BERT (M-BERT).",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["pipeline*", "components*", "models*", "benchmarks*"]),
    package_data={"pipeline": ["../configs/*.yaml"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # jax[cpu]: the model code's KERAS_BACKEND=jax tests and `mbert bench jax-pretrain`
        # (jax 0.4.34 is the last release that accepts TensorFlow 2.16's ml-dtypes 0.3).
        "test": ["pytest", "jax[cpu]"],
        "dev": ["pytest"],
    },
    entry_points={"console_scripts": ["mbert=pipeline.cli:main"]},
)
