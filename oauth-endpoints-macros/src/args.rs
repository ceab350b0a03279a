//! Reading the attribute's arguments: a comma-separated list of `key = "string"` pairs.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, LitStr, MetaNameValue, Token};

/// The arguments of one attribute, each a string literal kept with its span.
pub(crate) struct Args {
    values: Vec<(&'static str, LitStr)>,
}

impl Args {
    /// The value given for `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<&LitStr> {
        self.values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| value)
    }
}

/// Parses the attribute's tokens, accepting the keys in `keys`. Unknown keys, repeated keys and
/// values that are not string literals are all reported, each at its own token, in one combined
/// error.
pub(crate) fn parse(tokens: TokenStream, keys: &[&'static str]) -> syn::Result<Args> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut args = Args { values: Vec::new() };
    let mut errors = Errors::default();
    for pair in pairs {
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
        let value = match string_literal(&pair.value) {
            Ok(value) => value,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        if args.get(key).is_some() {
            errors.push(syn::Error::new_spanned(
                &pair.path,
                format!("duplicate key `{key}`"),
            ));
            continue;
        }
        args.values.push((key, value));
    }
    errors.finish(args)
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
}
