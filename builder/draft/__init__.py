"""`dsforge init --draft`: a schema proposed by a model from the user's own documents, never run blind."""
