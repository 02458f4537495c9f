//! Maglev consistent hashing (placeholder, filled in next).
