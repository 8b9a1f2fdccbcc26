//! Where variables come from: the process environment, a `.env` file, or a map in tests.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use crate::error::{ConfigError, ConfigErrors, Problem};

/// Where a variable's value was found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// The process environment.
    Environment,
    /// A `.env` file.
    DotEnv(PathBuf),
    /// An in-memory map (tests, programmatic configuration).
    Map,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Environment => f.write_str("environment"),
            Origin::DotEnv(path) => write!(f, "{}", path.display()),
            Origin::Map => f.write_str("settings map"),
        }
    }
}

/// A variable's raw value and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvValue {
    /// The raw text. May be a secret: never print it.
    pub value: String,
    /// Where it was found.
    pub origin: Origin,
    /// False when the process environment held bytes that are not UTF-8; `value` is then a
    /// lossy copy and the loader reports an error.
    pub is_unicode: bool,
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be API keys, so Debug shows only where the value came from.
        f.debug_struct("EnvValue")
            .field("origin", &self.origin)
            .field("len", &self.value.len())
            .finish_non_exhaustive()
    }
}

/// A source of configuration variables.
///
/// Lower crates never read the environment; they take [`Settings`](crate::Settings). Tests
/// use [`MapEnv`] so they never touch the process environment.
pub trait EnvSource {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<EnvValue>;

    /// Every variable name this source holds; used to spot misspelt variables.
    fn names(&self) -> Vec<String>;
}

/// Variables from an in-memory map.
///
/// ```
/// use orchestra_config::{MapEnv, Settings};
///
/// let env = MapEnv::from_iter([("LLM_MAX_RETRIES", "5")]);
/// let settings = Settings::load(&env).unwrap().settings;
/// assert_eq!(settings.resilience.max_retries, 5);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapEnv {
    vars: BTreeMap<String, String>,
}

impl MapEnv {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.vars.insert(name.into(), value.into());
        self
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            vars: iter
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }
}

impl EnvSource for MapEnv {
    fn get(&self, name: &str) -> Option<EnvValue> {
        self.vars.get(name).map(|value| EnvValue {
            value: value.clone(),
            origin: Origin::Map,
            is_unicode: true,
        })
    }

    fn names(&self) -> Vec<String> {
        self.vars.keys().cloned().collect()
    }
}

/// The process environment, optionally layered over a `.env` file (the process wins).
///
/// Reading the `.env` file never modifies the process environment.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    dotenv: Option<(PathBuf, BTreeMap<String, String>)>,
}

impl Environment {
    /// The process environment alone.
    pub fn process() -> Self {
        Self::default()
    }

    /// The process environment over `./.env` when that file exists.
    ///
    /// # Errors
    ///
    /// The `.env` file exists but cannot be read or parsed.
    pub fn with_default_dotenv() -> Result<Self, ConfigErrors> {
        let path = Path::new(".env");
        if path.is_file() {
            Self::with_dotenv(path)
        } else {
            Ok(Self::process())
        }
    }

    /// The process environment over the `.env`-format file at `path`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or some of its lines cannot be parsed (every bad line is
    /// reported; line contents are not shown because they may hold keys).
    pub fn with_dotenv(path: impl AsRef<Path>) -> Result<Self, ConfigErrors> {
        let path = path.as_ref().to_path_buf();
        let text = std::fs::read_to_string(&path).map_err(|error| {
            ConfigErrors::from(ConfigError::new(
                ".env",
                Problem::DotEnv {
                    path: path.clone(),
                    line: None,
                    message: format!("cannot read the file: {error}"),
                },
            ))
        })?;
        let mut vars = BTreeMap::new();
        let mut errors = Vec::new();
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            match item {
                Ok((name, value)) => {
                    vars.insert(name, value);
                }
                Err(dotenvy::Error::LineParse(line, _index)) => {
                    let number = line_number(&text, &line);
                    let name = line
                        .split_once('=')
                        .map(|(name, _)| name.trim().trim_start_matches("export ").trim())
                        .filter(|name| is_variable_name(name));
                    let message = match name {
                        Some(name) => format!("cannot parse the value of {name}"),
                        None => "expected NAME=value".to_owned(),
                    };
                    errors.push(ConfigError::new(
                        ".env",
                        Problem::DotEnv {
                            path: path.clone(),
                            line: number,
                            message,
                        },
                    ));
                }
                Err(other) => errors.push(ConfigError::new(
                    ".env",
                    Problem::DotEnv {
                        path: path.clone(),
                        line: None,
                        message: other.to_string(),
                    },
                )),
            }
        }
        if errors.is_empty() {
            Ok(Self {
                dotenv: Some((path, vars)),
            })
        } else {
            Err(ConfigErrors::new(errors))
        }
    }
}

impl EnvSource for Environment {
    #[allow(clippy::disallowed_methods)] // This is the one place that reads the process env.
    fn get(&self, name: &str) -> Option<EnvValue> {
        if let Some(raw) = std::env::var_os(name) {
            return Some(match raw.into_string() {
                Ok(value) => EnvValue {
                    value,
                    origin: Origin::Environment,
                    is_unicode: true,
                },
                Err(raw) => EnvValue {
                    value: raw.to_string_lossy().into_owned(),
                    origin: Origin::Environment,
                    is_unicode: false,
                },
            });
        }
        let (path, vars) = self.dotenv.as_ref()?;
        vars.get(name).map(|value| EnvValue {
            value: value.clone(),
            origin: Origin::DotEnv(path.clone()),
            is_unicode: true,
        })
    }

    #[allow(clippy::disallowed_methods)] // This is the one place that reads the process env.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect();
        if let Some((_, vars)) = &self.dotenv {
            names.extend(vars.keys().cloned());
        }
        names.sort();
        names.dedup();
        names
    }
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// dotenvy reports the offending line's text, not its number; find it in the file.
fn line_number(text: &str, line: &str) -> Option<usize> {
    let first = line.lines().next()?;
    text.lines()
        .position(|candidate| candidate == first)
        .map(|index| index + 1)
}
