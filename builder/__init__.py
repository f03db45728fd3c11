"""Documents → cleaned text → grounded items → instruction records."""
