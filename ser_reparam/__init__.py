"""ser-reparam: HRF re-parameterized tiny Transformers for on-device speech emotion recognition."""

__version__ = "0.1.0"
