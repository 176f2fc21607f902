"""Dataset and model cards for the Hugging Face hub."""
