//! Reading the attribute's arguments: a comma-separated list of `key = "string"` pairs.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Expr, ExprLit, Lit, LitStr, MetaNameValue, Token};

/// The arguments of one attribute, each a string literal kept with its span.
pub(crate) struct Args {
    values: Vec<(&'static str, LitStr)>,
    /// Keys that were written but could not be read (a value that is not a string literal), so
    /// that validation does not also call them missing.
    unreadable: Vec<&'static str>,
}

impl Args {
    /// The value given for `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<&LitStr> {
        self.values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| value)
    }

    /// Whether `key` was written without a usable value: its absence is already reported.
    pub(crate) fn unreadable(&self, key: &str) -> bool {
        self.unreadable.contains(&key)
    }
}

/// Parses the attribute's tokens, accepting the keys in `keys`. Unknown keys, repeated keys and
/// values that are not string literals are all pushed to `errors`, each at its own token; every
/// valid pair is kept, so the caller can check those too and report every mistake in one build.
pub(crate) fn parse(tokens: TokenStream, keys: &[&'static str], errors: &mut Errors) -> Args {
    let mut args = Args {
        values: Vec::new(),
        unreadable: Vec::new(),
    };
    let pairs = match pairs.parse2(tokens) {
        Ok(pairs) => pairs,
        Err(error) => {
            // Not expected: `pairs` records malformed arguments instead of failing.
            errors.push(error);
            return args;
        }
    };
    for pair in pairs {
        let pair = match pair {
            Ok(pair) => pair,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        let key = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let Some(key) = keys.iter().copied().find(|k| *k == key) else {
            errors.push(syn::Error::new_spanned(
                &pair.path,
                format!("unknown key; expected one of: {}", keys.join(", ")),
            ));
            continue;
        };
        if args.get(key).is_some() || args.unreadable(key) {
            errors.push(syn::Error::new_spanned(
                &pair.path,
                format!("duplicate key `{key}`"),
            ));
            continue;
        }
        match string_literal(&pair.value) {
            Ok(value) => args.values.push((key, value)),
            Err(error) => {
                errors.push(error);
                args.unreadable.push(key);
            }
        }
    }
    args
}

/// Splits the arguments at their commas. Each argument is a `key = value` pair or, when it is
/// not, the error describing it: one malformed argument does not hide the others.
fn pairs(input: ParseStream<'_>) -> syn::Result<Vec<syn::Result<MetaNameValue>>> {
    let mut pairs = Vec::new();
    while !input.is_empty() {
        let start = input.span();
        let fork = input.fork();
        match fork.parse::<MetaNameValue>() {
            Ok(pair) if fork.is_empty() || fork.peek(Token![,]) => {
                // Consumes what the fork read: the pair itself.
                input.parse::<MetaNameValue>()?;
                pairs.push(Ok(pair));
            }
            _ => {
                let tokens = rest_of_argument(input)?;
                pairs.push(Err(malformed(start, tokens)));
            }
        }
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    Ok(pairs)
}

/// Takes every token up to the next top-level comma (commas inside brackets are kept).
fn rest_of_argument(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    input.step(|cursor| {
        let mut rest = *cursor;
        let mut tokens = TokenStream::new();
        while let Some((tree, next)) = rest.token_tree() {
            if matches!(&tree, proc_macro2::TokenTree::Punct(punct) if punct.as_char() == ',') {
                break;
            }
            tokens.extend([tree]);
            rest = next;
        }
        Ok((tokens, rest))
    })
}

/// The error for an argument that is not a `key = value` pair.
fn malformed(start: Span, tokens: TokenStream) -> syn::Error {
    let message = "expected `key = \"value\"`";
    if tokens.is_empty() {
        syn::Error::new(start, message)
    } else {
        syn::Error::new_spanned(tokens, message)
    }
}

fn string_literal(value: &Expr) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit.clone()),
        other => Err(syn::Error::new_spanned(
            other,
            "expected a string literal, e.g. \"POST\"",
        )),
    }
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
