"""Dataset loaders (entry-point group mebench.datasets): the embedded synthetic set and real-data readers."""
