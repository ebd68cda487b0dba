//! The Procfile (Heroku's, also foreman's and honcho's): one process a
//! line, `NAME: COMMAND`, `#` comments and blank lines ignored. Each
//! command is split into words as a POSIX shell would for the simple
//! forms Procfiles use: words, single and double quotes, backslashes,
//! `$VAR` and `${VAR}`, commands joined with `&&` or `;`, a leading
//! `cd DIR`, `exec` and `VAR=value` prefixes. Anything else (pipes,
//! redirections, `||`, `&`, command substitution) is refused with the
//! line named: adopt cannot turn it into a djdd.toml command.
//!
//! Pure: takes the file's text.

use crate::error::{Error, Result};

/// The file's name at the repository root.
pub const FILE: &str = "Procfile";

/// One line of the Procfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The process type as written (`web`, `worker`, `release`, ...).
    pub name: String,
    /// 1-based line number.
    pub line: usize,
    /// The command as written.
    pub text: String,
    /// The commands it runs, in order (`a && b` is two).
    pub commands: Vec<Command>,
}

/// One simple command of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// `VAR=value` words before the program, as written.
    pub assignments: Vec<String>,
    /// The program and its arguments, unquoted. `$VAR` and `${VAR}` are
    /// kept as `${VAR}`.
    pub words: Vec<String>,
}

/// Parses the Procfile's text.
pub fn parse(text: &str) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let what = || format!("{FILE}:{line}");
        let bad = |problem: String| {
            Error::invalid_hint(
                what(),
                format!("{:?}: {problem}", crate::rules::names::printable(trimmed)),
                "write each line as `NAME: COMMAND` with simple commands (words, quotes, `&&`), or move the line out of the Procfile",
            )
        };
        let Some((name, command)) = trimmed.split_once(':') else {
            return Err(bad("is not `NAME: COMMAND`".into()));
        };
        let name = name.trim();
        let ok_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok_name {
            return Err(bad(format!(
                "{name:?} is not a process type (letters, digits, _ and -)"
            )));
        }
        let command = command.trim();
        if command.is_empty() {
            return Err(bad(format!("process type {name} has no command")));
        }
        if out.iter().any(|e: &Entry| e.name == name) {
            return Err(bad(format!("process type {name} is defined twice")));
        }
        let commands = split(command).map_err(bad)?;
        out.push(Entry {
            name: name.to_string(),
            line,
            text: command.to_string(),
            commands,
        });
    }
    Ok(out)
}

/// Splits a command line into simple commands of words.
fn split(text: &str) -> std::result::Result<Vec<Command>, String> {
    let mut commands: Vec<Vec<String>> = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    commands.last_mut().unwrap().push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some('$') => variable(&mut chars, &mut word)?,
                        Some('`') => return Err("command substitution is not supported".into()),
                        Some(ch) => word.push(ch),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => word.push(ch),
                    None => return Err("a backslash ends the line".into()),
                }
            }
            '$' => {
                in_word = true;
                variable(&mut chars, &mut word)?;
            }
            '&' if chars.peek() == Some(&'&') => {
                chars.next();
                end_command(&mut commands, &mut word, &mut in_word)?;
            }
            ';' => end_command(&mut commands, &mut word, &mut in_word)?,
            '|' | '&' | '<' | '>' | '`' | '(' | ')' => {
                return Err(format!(
                    "`{c}` (a pipe, redirection, background job or subshell) is not supported"
                ));
            }
            '#' if !in_word => break,
            ch => {
                in_word = true;
                word.push(ch);
            }
        }
    }
    end_command(&mut commands, &mut word, &mut in_word)?;
    commands.pop();
    Ok(commands
        .into_iter()
        .map(|words| {
            let n = words.iter().take_while(|w| is_assignment(w)).count();
            Command {
                assignments: words[..n].to_vec(),
                words: words[n..].to_vec(),
            }
        })
        .filter(|c| !c.words.is_empty() || !c.assignments.is_empty())
        .collect())
}

fn end_command(
    commands: &mut Vec<Vec<String>>,
    word: &mut String,
    in_word: &mut bool,
) -> std::result::Result<(), String> {
    if *in_word {
        commands.last_mut().unwrap().push(std::mem::take(word));
        *in_word = false;
    }
    if commands.last().is_some_and(|c| c.is_empty()) {
        return Err("an empty command before `&&` or `;`".into());
    }
    commands.push(Vec::new());
    Ok(())
}

/// `$VAR`, `${VAR}` (written back as `${VAR}`); `$(` is refused; a `$`
/// before anything else is literal.
fn variable(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    word: &mut String,
) -> std::result::Result<(), String> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.peek() {
        Some('(') => Err("command substitution `$(...)` is not supported".into()),
        Some('{') => {
            chars.next();
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some(c) if name_char(c) => name.push(c),
                    _ => {
                        return Err(
                            "`${...}` holds something other than a variable name (defaults such as ${X:-y} are not supported)"
                                .into(),
                        );
                    }
                }
            }
            word.push_str(&format!("${{{name}}}"));
            Ok(())
        }
        Some(&c) if c.is_ascii_alphabetic() || c == '_' => {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if !name_char(c) {
                    break;
                }
                name.push(c);
                chars.next();
            }
            word.push_str(&format!("${{{name}}}"));
            Ok(())
        }
        _ => {
            word.push('$');
            Ok(())
        }
    }
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// The `${VAR}` names in a word.
pub fn variables(word: &str) -> Vec<String> {
    crate::config::project::command_variables(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(e: &Entry) -> Vec<Vec<&str>> {
        e.commands
            .iter()
            .map(|c| c.words.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn the_usual_lines() {
        let p = parse(
            "# the app\nweb: cd backend && uwsgi --http :$PORT --module shop.wsgi:application\n\n\
             worker: celery -A shop worker -l info   # the worker\n\
             release: python manage.py migrate --noinput; python manage.py clearsessions\n\
             clock: FOO=1 exec celery --app 'shop.celery:app' \"beat\" -s \"${HOME}/x y\"\n",
        )
        .unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].name, "web");
        assert_eq!(p[0].line, 2);
        assert_eq!(
            words(&p[0]),
            [
                vec!["cd", "backend"],
                vec![
                    "uwsgi",
                    "--http",
                    ":${PORT}",
                    "--module",
                    "shop.wsgi:application"
                ]
            ]
        );
        assert_eq!(
            words(&p[1]),
            [vec!["celery", "-A", "shop", "worker", "-l", "info"]]
        );
        assert_eq!(words(&p[2]).len(), 2);
        assert_eq!(p[3].commands[0].assignments, ["FOO=1"]);
        assert_eq!(
            words(&p[3]),
            [vec![
                "exec",
                "celery",
                "--app",
                "shop.celery:app",
                "beat",
                "-s",
                "${HOME}/x y"
            ]]
        );
    }

    #[test]
    fn what_it_cannot_parse_names_the_line() {
        for (text, want) in [
            (
                "web gunicorn x",
                "Procfile:1: \"web gunicorn x\": is not `NAME: COMMAND`",
            ),
            ("web: a | b", "`|`"),
            ("web: a > log", "`>`"),
            ("web: a || b", "`|`"),
            ("web: a &", "`&`"),
            ("web: echo $(id)", "command substitution"),
            ("web: echo 'x", "single quote is not closed"),
            ("web:", "has no command"),
            ("w b: x", "not a process type"),
            (
                "web: a\nweb: b",
                "Procfile:2: \"web: b\": process type web is defined twice",
            ),
            ("web: && a", "an empty command"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
