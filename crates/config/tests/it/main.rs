//! Integration tests of orchestra-config: resolved settings, error messages, `.env` files and
//! the generated documentation.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod docs;
mod dotenv;
mod errors;
mod settings;
