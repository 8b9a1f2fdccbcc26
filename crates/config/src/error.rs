//! Configuration errors that name the variable, say what was expected and, for JSON values,
//! where the problem is.

use std::{fmt, path::PathBuf};

use crate::source::Origin;

/// Every problem found while loading the configuration, reported together.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

impl ConfigErrors {
    pub(crate) fn new(errors: Vec<ConfigError>) -> Self {
        Self { errors }
    }

    /// The individual problems, in the order of the variables' documentation.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    /// How many problems there are (at least one).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false: a `ConfigErrors` holds at least one problem.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self {
            errors: vec![error],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigErrors> for orchestra_core::Error {
    fn from(errors: ConfigErrors) -> Self {
        orchestra_core::Error::config(errors.to_string())
    }
}

/// One configuration problem.
///
/// `Display` starts with the variable's name (and the JSON path inside it, when there is
/// one), then says what is wrong. Secret values are never shown.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    variable: String,
    path: Option<String>,
    origin: Option<Origin>,
    problem: Problem,
}

impl ConfigError {
    pub(crate) fn new(variable: impl Into<String>, problem: Problem) -> Self {
        Self {
            variable: variable.into(),
            path: None,
            origin: None,
            problem,
        }
    }

    pub(crate) fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub(crate) fn set_by(mut self, origin: Option<Origin>) -> Self {
        self.origin = origin;
        self
    }

    /// The variable that holds the bad value (`.env` for problems with the file itself).
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// The path inside a JSON value, such as `[1].weight`.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Where the bad value was set.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// What is wrong.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.variable)?;
        if let Some(path) = &self.path {
            f.write_str(path)?;
        }
        if let Some(Origin::DotEnv(path)) = &self.origin {
            write!(f, " (set in {})", path.display())?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// What is wrong with a value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// The value is not valid JSON, or JSON of the wrong shape.
    InvalidJson {
        /// serde_json's explanation, without its position suffix.
        message: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The offending line with a caret under the column; secrets are masked.
        snippet: String,
    },
    /// The value does not have the expected form.
    InvalidValue {
        /// What was expected, e.g. "a number of seconds greater than 0".
        expected: String,
        /// The value found; `None` for secrets.
        found: Option<String>,
    },
    /// A name that is not one of the accepted names.
    UnknownName {
        /// What the name is of ("strategy", "provider", "error class").
        what: &'static str,
        /// The name given.
        found: String,
        /// The accepted names.
        expected: Vec<String>,
        /// The closest accepted name, when one is close.
        suggestion: Option<String>,
    },
    /// The value is well-formed but not allowed (bounds, consistency).
    Invalid {
        /// The explanation.
        message: String,
    },
    /// The process environment holds bytes that are not UTF-8.
    NotUnicode,
    /// The `.env` file cannot be read or parsed.
    DotEnv {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// The explanation (never the line's content, which may hold keys).
        message: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::InvalidJson {
                message,
                line,
                column,
                snippet,
            } => {
                // serde_json says column 0 for errors found before reading a character.
                write!(f, "{message} at line {line}, column {}", (*column).max(1))?;
                if !snippet.is_empty() {
                    for snippet_line in snippet.lines() {
                        write!(f, "\n    {snippet_line}")?;
                    }
                }
                Ok(())
            }
            Problem::InvalidValue { expected, found } => match found {
                Some(found) => write!(f, "expected {expected}, found `{found}`"),
                None => write!(f, "expected {expected}"),
            },
            Problem::UnknownName {
                what,
                found,
                expected,
                suggestion,
            } => {
                match expected.as_slice() {
                    [only] => write!(f, "unknown {what} `{found}`, expected {only}")?,
                    all => write!(
                        f,
                        "unknown {what} `{found}`, expected one of: {}",
                        all.join(", ")
                    )?,
                }
                if let Some(suggestion) = suggestion {
                    write!(f, " (did you mean `{suggestion}`?)")?;
                }
                Ok(())
            }
            Problem::Invalid { message } => f.write_str(message),
            Problem::NotUnicode => f.write_str("the value is not valid UTF-8"),
            Problem::DotEnv {
                path,
                line,
                message,
            } => match line {
                Some(line) => write!(f, "{} line {line}: {message}", path.display()),
                None => write!(f, "{}: {message}", path.display()),
            },
        }
    }
}

/// A non-fatal observation, such as a misspelt variable name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The variable concerned.
    pub variable: String,
    /// What to look at.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// The closest of `candidates` to `input` when it is plausibly a typo.
pub(crate) fn suggest<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input = input.to_ascii_lowercase();
    let budget = (input.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&input, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        let names = ["fallback", "loadbalance", "cost_aware"];
        assert_eq!(suggest("fallbak", names), Some("fallback"));
        assert_eq!(suggest("load_balance", names), Some("loadbalance"));
        assert_eq!(suggest("cost-aware", names), Some("cost_aware"));
        assert_eq!(suggest("random", names), None);
    }
}
