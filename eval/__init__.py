"""Evaluation: prediction, scoring (strict / instructuie) and reports."""
