"""sparsestudy: the sparse representations hidden in deep learning, tested claim by claim."""

__version__ = "0.1.0"
