//! The two files adopt writes, rendered from embedded templates with
//! minijinja (strict undefined, no auto-escaping: every value goes through
//! the filter of its syntax): `toml` (a TOML value, written by the toml
//! crate), `py` (a Python string literal, `render::filters::python_str`),
//! `py_module` and `py_name` (a dotted module or a setting's name, or the
//! render fails) and `comment` (one line, no control characters). The
//! djdd.toml rendered is parsed back with `config::project`'s rules: a
//! file djdd itself would refuse is a bug, reported as an error.
//!
//! Pure.

use minijinja::{Environment, Error as JinjaError, ErrorKind, UndefinedBehavior, Value};

use crate::config::project::{self, FILE as DJDD_TOML, is_module};
use crate::error::{Error, Result};
use crate::render::error_chain;
use crate::render::filters::python_str;

use super::{Decided, NewFile};

const TEMPLATES: &[(&str, &str)] = &[
    ("djdd.toml", include_str!("djdd.toml.j2")),
    ("djdd_settings.py", include_str!("djdd_settings.py.j2")),
];

fn invalid(what: &str, v: &str) -> JinjaError {
    JinjaError::new(
        ErrorKind::InvalidOperation,
        format!("{what}: {v:?} is not one"),
    )
}

fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .map_err(|e| Error::invalid("template syntax", e.to_string()))?,
    );
    for (name, text) in TEMPLATES {
        env.add_template(name, text)
            .map_err(|e| Error::invalid(format!("template {name}"), e.to_string()))?;
    }
    env.add_filter(
        "toml",
        |v: Value| -> std::result::Result<String, JinjaError> {
            let t = toml::Value::try_from(&v)
                .map_err(|e| JinjaError::new(ErrorKind::InvalidOperation, e.to_string()))?;
            Ok(t.to_string())
        },
    );
    env.add_filter("py", |v: String| python_str(&v));
    env.add_filter("py_module", |v: String| {
        if is_module(&v) {
            Ok(v)
        } else {
            Err(invalid("a Python module", &v))
        }
    });
    env.add_filter("py_name", |v: String| {
        if is_module(&v) && !v.contains('.') {
            Ok(v)
        } else {
            Err(invalid("a Python name", &v))
        }
    });
    env.add_filter("comment", |v: String| {
        v.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
    });
    Ok(env)
}

/// djdd.toml and the settings module, in that order.
pub(super) fn files(d: &Decided) -> Result<Vec<NewFile>> {
    let env = environment()?;
    let render = |name: &str| -> Result<String> {
        env.get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(d)))
            .map_err(|e| Error::invalid(format!("adopt's template {name}"), error_chain(&e)))
    };
    let toml_text = render("djdd.toml")?;
    // What adopt writes, djdd must read.
    let parsed = project::parse(&toml_text)
        .and_then(|f| project::resolve(Some(&f), None))
        .map_err(|e| Error::invalid(format!("the {DJDD_TOML} adopt would write"), e.to_string()))?;
    debug_assert_eq!(parsed.settings.as_deref(), Some(d.settings.as_str()));
    Ok(vec![
        NewFile {
            path: DJDD_TOML.to_string(),
            text: toml_text,
        },
        NewFile {
            path: d.settings_file.clone(),
            text: render("djdd_settings.py")?,
        },
    ])
}
