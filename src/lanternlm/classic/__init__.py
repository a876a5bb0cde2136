"""Classic text representations: one-hot, bag of words, TF-IDF, Word2Vec, and the smallest neural network."""
