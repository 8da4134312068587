"""Neural networks only: no training loops, no file handling."""
