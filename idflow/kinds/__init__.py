"""The kinds of objects idflow manages: their normal forms, the server's model, uses and ownership."""
