"""Real models: our own BERT (MiniLM-L6) loader."""
