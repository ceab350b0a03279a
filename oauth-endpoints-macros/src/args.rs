//! Reading the attribute's arguments: a comma-separated list of `key = "string"` pairs.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ExprPath, Lit, LitStr, MetaNameValue, Token};

/// A key an attribute accepts, with an example value for error messages.
pub(crate) struct Key {
    pub(crate) name: &'static str,
    pub(crate) example: &'static str,
}

/// The arguments of one attribute, each a string literal kept with its span.
pub(crate) struct Args {
    values: Vec<(&'static str, LitStr)>,
    /// Keys that were written but could not be read (a value that is not a string literal).
    unreadable: Vec<&'static str>,
    /// Keys an error message already suggested writing (for a positional argument).
    suggested: Vec<&'static str>,
}

impl Args {
    /// The value given for `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<&LitStr> {
        self.values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| value)
    }

    /// Whether an error about `key` was already reported at the argument that meant it, so that
    /// validation does not also call it missing.
    pub(crate) fn reported(&self, key: &str) -> bool {
        self.unreadable.contains(&key) || self.suggested.contains(&key)
    }
}

/// Parses the attribute's tokens, accepting `keys`. Unknown keys, repeated keys, values that are
/// not string literals and arguments that are not `key = value` pairs are all pushed to `errors`,
/// each at its own tokens; every valid pair is kept, so the caller can check those too and report
/// every mistake in one build.
pub(crate) fn parse(tokens: TokenStream, keys: &[Key], errors: &mut Errors) -> Args {
    let mut args = Args {
        values: Vec::new(),
        unreadable: Vec::new(),
        suggested: Vec::new(),
    };
    let arguments = match arguments.parse2(tokens) {
        Ok(arguments) => arguments,
        Err(error) => {
            // Not expected: `arguments` records malformed arguments instead of failing.
            errors.push(error);
            return args;
        }
    };
    // The keys written as pairs, so a positional value is not guessed to be one of them.
    let written: Vec<String> = arguments
        .iter()
        .filter_map(|argument| match argument {
            Argument::Pair(pair) => pair.path.get_ident().map(ToString::to_string),
            Argument::Malformed { .. } => None,
        })
        .collect();
    let mut unwritten: Vec<&Key> = keys
        .iter()
        .filter(|key| !written.iter().any(|name| name == key.name))
        .collect();
    for argument in arguments {
        let pair = match argument {
            Argument::Pair(pair) => pair,
            Argument::Malformed { start, tokens } => {
                errors.push(malformed(start, tokens, keys, &mut unwritten, &mut args));
                continue;
            }
        };
        let key = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let Some(key) = keys.iter().find(|k| k.name == key) else {
            errors.push(unknown_key(&pair.path, keys, &mut args));
            continue;
        };
        if args.get(key.name).is_some() || args.unreadable.contains(&key.name) {
            errors.push(syn::Error::new_spanned(
                &pair.path,
                format!("duplicate key `{}`", key.name),
            ));
            continue;
        }
        match string_literal(&pair.value, key) {
            Ok(value) => args.values.push((key.name, value)),
            Err(error) => {
                errors.push(error);
                args.unreadable.push(key.name);
            }
        }
    }
    args
}

/// One comma-separated argument.
enum Argument {
    Pair(MetaNameValue),
    /// Not a `key = value` pair: its tokens, and where it starts (for an empty argument).
    Malformed {
        start: Span,
        tokens: TokenStream,
    },
}

/// Splits the arguments at their commas. Each is a `key = value` pair or kept as malformed: one
/// malformed argument does not hide the others.
fn arguments(input: ParseStream<'_>) -> syn::Result<Vec<Argument>> {
    let arguments = Punctuated::<Argument, Token![,]>::parse_terminated_with(input, argument)?;
    Ok(arguments.into_iter().collect())
}

/// One argument: a `key = value` pair when it reads as one up to its comma, else its tokens.
fn argument(input: ParseStream<'_>) -> syn::Result<Argument> {
    let fork = input.fork();
    match fork.parse::<MetaNameValue>() {
        Ok(_) if fork.is_empty() || fork.peek(Token![,]) => Ok(Argument::Pair(input.parse()?)),
        _ => {
            let start = input.span();
            let tokens = rest_of_argument(input)?;
            Ok(Argument::Malformed { start, tokens })
        }
    }
}

/// Takes every token up to the next top-level comma (commas inside brackets are kept).
fn rest_of_argument(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    input.step(|cursor| {
        let mut rest = *cursor;
        let mut tokens = TokenStream::new();
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, TokenTree::Punct(punct) if punct.as_char() == ',') {
                break;
            }
            tokens.extend([tree]);
            rest = next;
        }
        Ok((tokens, rest))
    })
}

/// The error for an argument that is not a `key = value` pair. `unwritten` are the keys neither
/// written as pairs nor yet suggested for a positional value: the keys such a value may mean.
fn malformed(
    start: Span,
    tokens: TokenStream,
    keys: &[Key],
    unwritten: &mut Vec<&Key>,
    args: &mut Args,
) -> syn::Error {
    let mut trees = tokens.clone().into_iter();
    let first = trees.next();
    let alone = trees.next().is_none();
    match first {
        // A value without its key, e.g. `#[oauth_endpoint("revocation")]`.
        Some(TokenTree::Literal(literal)) if alone => {
            let message = "arguments are `key = \"value\"` pairs";
            let guess = match Lit::new(literal.clone()) {
                Lit::Str(value) => {
                    positional_key(&value.value(), keys, unwritten).map(|key| (key, value.value()))
                }
                _ => None,
            };
            let hint = match guess {
                Some((key, value)) => {
                    unwritten.retain(|k| k.name != key.name);
                    args.suggested.push(key.name);
                    format!("; did you mean `{} = {value:?}`?", key.name)
                }
                None => format!(", e.g. {}", example(keys.first())),
            };
            syn::Error::new(literal.span(), format!("{message}{hint}"))
        }
        // A key without `= value`, e.g. `name` alone or `methods("GET")`.
        Some(TokenTree::Ident(ident)) => match keys.iter().find(|k| ident == k.name) {
            Some(key) => {
                args.unreadable.push(key.name);
                syn::Error::new_spanned(
                    tokens,
                    format!(
                        "expected `{} = \"...\"`, e.g. {}",
                        key.name,
                        example(Some(key))
                    ),
                )
            }
            None => unknown_key(&ident, keys, args),
        },
        Some(_) => syn::Error::new_spanned(
            tokens,
            format!("expected `key = \"value\"`, e.g. {}", example(keys.first())),
        ),
        None => syn::Error::new(start, "expected `key = \"value\"` (an argument is empty)"),
    }
}

/// The key a positional string most likely meant: `path` for a path, else the first key; `None`
/// when that key is written elsewhere.
fn positional_key<'k>(value: &str, keys: &'k [Key], unwritten: &[&Key]) -> Option<&'k Key> {
    let likely = match keys.iter().find(|k| k.name == "path") {
        Some(path) if value.starts_with('/') => path,
        _ => keys.first()?,
    };
    unwritten
        .iter()
        .any(|key| key.name == likely.name)
        .then_some(likely)
}

/// Stands in when an attribute accepts no keys (none does today).
const NO_KEY: Key = Key {
    name: "key",
    example: "value",
};

/// `key = "example"`, for messages.
fn example(key: Option<&Key>) -> String {
    let key = key.unwrap_or(&NO_KEY);
    format!("`{} = {:?}`", key.name, key.example)
}

/// The error for an unknown key, with the known key it is close to, if any. That key is then
/// not also reported missing.
fn unknown_key(key: &impl ToTokens, keys: &[Key], args: &mut Args) -> syn::Error {
    let written = key.to_token_stream().to_string().replace(' ', "");
    let names: Vec<&str> = keys.iter().map(|k| k.name).collect();
    let expected = names.join(", ");
    let message = match closest_key(&written, keys) {
        Some(close) => {
            args.suggested.push(close.name);
            format!(
                "unknown key `{written}`; did you mean `{}`? (expected one of: {expected})",
                close.name
            )
        }
        None => format!("unknown key `{written}`; expected one of: {expected}"),
    };
    syn::Error::new_spanned(key, message)
}

/// The known key `written` most likely meant: the same but for case, one edit away (a letter
/// added, removed, replaced, or two neighbours swapped: an optimal-string-alignment distance of
/// one), or one of the two a prefix of the other.
fn closest_key<'k>(written: &str, keys: &'k [Key]) -> Option<&'k Key> {
    let written = written.to_ascii_lowercase();
    let rules: [&dyn Fn(&str) -> bool; 3] = [
        &|key| key == written,
        &|key| strsim::osa_distance(key, &written) == 1,
        &|key| written.len() >= 3 && (key.starts_with(&written) || written.starts_with(key)),
    ];
    rules
        .iter()
        .find_map(|rule| keys.iter().find(|key| rule(key.name)))
}

fn string_literal(value: &Expr, key: &Key) -> syn::Result<LitStr> {
    let example = example(Some(key));
    // A word, number or character that was likely meant in quotes.
    let quoted = |text: String| {
        format!(
            "expected a string literal; did you mean `{} = {text:?}`?",
            key.name
        )
    };
    let message = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => return Ok(lit.clone()),
        // A flag may be written as a plain `true` or `false`.
        Expr::Lit(ExprLit {
            lit: Lit::Bool(flag),
            ..
        }) if key.example == "true" => {
            return Ok(LitStr::new(&flag.value.to_string(), flag.span));
        }
        Expr::Lit(ExprLit {
            lit: lit @ (Lit::Int(_) | Lit::Float(_) | Lit::Bool(_)),
            ..
        }) => quoted(lit.to_token_stream().to_string()),
        Expr::Lit(ExprLit {
            lit: Lit::Char(lit),
            ..
        }) => quoted(lit.value().to_string()),
        Expr::Path(ExprPath { path, .. }) => match path.get_ident() {
            Some(word) if word.to_string().chars().any(|c| c.is_ascii_lowercase()) => {
                quoted(word.to_string())
            }
            // `POST` was likely meant in quotes, but `PATH` may be a constant.
            Some(word) => format!(
                "{} (if `{word}` is a constant: an attribute cannot read constants, write its \
                 value)",
                quoted(word.to_string())
            ),
            None => format!(
                "expected a string literal: an attribute cannot read the constant `{}`; write \
                 its value, e.g. {example}",
                path.to_token_stream().to_string().replace(' ', "")
            ),
        },
        Expr::Macro(_) => format!(
            "expected a string literal: macros in attribute arguments are not expanded; \
             write the value in quotes, e.g. {example}"
        ),
        _ => format!("expected a string literal, e.g. {example}"),
    };
    Err(syn::Error::new_spanned(value, message))
}

/// Collects errors so that every mistake of one attribute is reported in one build.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    /// `result`, after every error collected so far; its own error comes last.
    pub(crate) fn then<T>(self, result: syn::Result<T>) -> syn::Result<T> {
        match result {
            Ok(value) => self.finish(value),
            Err(error) => Err(match self.0 {
                Some(mut first) => {
                    first.combine(error);
                    first
                }
                None => error,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Key, closest_key};

    const KEYS: &[Key] = &[
        Key {
            name: "name",
            example: "",
        },
        Key {
            name: "methods",
            example: "",
        },
        Key {
            name: "auth_methods",
            example: "",
        },
        Key {
            name: "metadata",
            example: "",
        },
    ];

    fn closest(written: &str) -> Option<&'static str> {
        closest_key(written, KEYS).map(|key| key.name)
    }

    #[test]
    fn one_edit_away() {
        for typo in ["nme", "names", "nbme", "nmae", "anme", "naem"] {
            assert_eq!(closest(typo), Some("name"), "{typo}");
        }
        for far in ["nm", "mane", "path"] {
            assert_eq!(closest(far), None, "{far}");
        }
    }

    #[test]
    fn hints() {
        assert_eq!(closest("METHODS"), Some("methods"));
        assert_eq!(closest("Name"), Some("name"));
        assert_eq!(closest("nam"), Some("name"));
        assert_eq!(closest("metdaata"), Some("metadata"));
        assert_eq!(closest("method"), Some("methods"));
        assert_eq!(closest("auth"), Some("auth_methods"));
        assert_eq!(closest("authmethods"), Some("auth_methods"));
        assert_eq!(closest("meta"), Some("metadata"));
        assert_eq!(closest("me"), None);
        assert_eq!(closest("colour"), None);
        assert_eq!(closest(""), None);
    }
}
