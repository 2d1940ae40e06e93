"""Read, label, tokenize and store genomes: everything before the model."""
