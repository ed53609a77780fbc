"""Studies that use the zoo rather than belong to it: He et al.'s degradation experiment
(`degradation`) and the residual responses (`responses`).

They live apart from the models so that the zoo (architectures, registry, data, training,
checkpoints) stays what every command builds on, and a study can train and evaluate many
models without the zoo importing it back. Import the module you need:

    >>> from models.studies.degradation import run_degradation
"""

__all__ = ["degradation", "responses"]
