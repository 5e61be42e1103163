//! The OData query options Graph mail accepts here: `$select`, `$expand` with nested
//! `$filter`/`$select`, and the `id eq '…' or id eq '…'` filter on extended properties.

use axum::http::StatusCode;
use url::form_urlencoded;

use super::error::GraphError;

/// Parsed query options of one request.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query {
    /// `$select` items as sent (matched case-insensitively later).
    pub(crate) select: Option<Vec<String>>,
    pub(crate) expand: Vec<Expand>,
}

/// One `$expand` item, e.g. `singleValueExtendedProperties($filter=id eq '…')`.
#[derive(Debug, Clone)]
pub(crate) struct Expand {
    pub(crate) path: String,
    pub(crate) filter: Option<String>,
    pub(crate) select: Option<Vec<String>>,
}

/// Parses the query string; `$`-options other than `allowed` are refused as Graph does.
pub(crate) fn parse_query(raw: Option<&str>, allowed: &[&str]) -> Result<Query, GraphError> {
    let mut query = Query::default();
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if !key.starts_with('$') {
            continue; // Graph ignores parameters that are not OData system query options.
        }
        let lower = key.to_ascii_lowercase();
        if !allowed.contains(&lower.as_str()) {
            return Err(GraphError::parse_uri(format!(
                "Query option '{key}' is not allowed for this request."
            )));
        }
        if seen.contains(&lower) {
            return Err(GraphError::parse_uri(format!(
                "Query option '{key}' was specified more than once, but it must be specified at most once."
            )));
        }
        seen.push(lower.clone());
        match lower.as_str() {
            "$select" => query.select = Some(parse_select(&value)?),
            "$expand" => query.expand = parse_expand(&value)?,
            _ => {}
        }
    }
    Ok(query)
}

/// A comma-separated property list.
pub(crate) fn parse_select(text: &str) -> Result<Vec<String>, GraphError> {
    let mut out = Vec::new();
    let mut pos = 0;
    for item in text.split(',') {
        let trimmed = item.trim();
        if trimmed.is_empty() {
            return Err(GraphError::parse_uri(format!(
                "Syntax error: character ',' is not valid at position {pos} in '{text}'."
            )));
        }
        out.push(trimmed.to_owned());
        pos += item.len() + 1;
    }
    Ok(out)
}

fn parse_expand(text: &str) -> Result<Vec<Expand>, GraphError> {
    split_top_level(text, ',')?
        .into_iter()
        .map(|item| parse_expand_item(item.trim(), text))
        .collect()
}

fn parse_expand_item(item: &str, whole: &str) -> Result<Expand, GraphError> {
    let syntax = || GraphError::parse_uri(format!("Syntax error in '$expand={whole}'."));
    let Some(open) = item.find('(') else {
        if item.is_empty() {
            return Err(syntax());
        }
        return Ok(Expand {
            path: item.to_owned(),
            filter: None,
            select: None,
        });
    };
    let inner = item[open + 1..].strip_suffix(')').ok_or_else(syntax)?;
    let mut expand = Expand {
        path: item[..open].trim().to_owned(),
        filter: None,
        select: None,
    };
    for option in split_top_level(inner, ';')? {
        let (key, value) = option.split_once('=').ok_or_else(syntax)?;
        match key.trim().to_ascii_lowercase().as_str() {
            "$filter" => expand.filter = Some(value.trim().to_owned()),
            "$select" => expand.select = Some(parse_select(value)?),
            other => {
                return Err(GraphError::parse_uri(format!(
                    "Query option '{other}' is not allowed inside $expand."
                )));
            }
        }
    }
    Ok(expand)
}

/// Splits on `sep` outside parentheses and single-quoted strings.
fn split_top_level(text: &str, sep: char) -> Result<Vec<&str>, GraphError> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && !quoted && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            break;
        }
    }
    if depth != 0 || quoted {
        return Err(GraphError::parse_uri(format!(
            "Syntax error: unbalanced parentheses or quotes in '{text}'."
        )));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn invalid_filter() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "ErrorInvalidUrlQueryFilter",
        "The query filter contains one or more invalid nodes.",
    )
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Text(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, GraphError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            '\'' => {
                chars.next();
                let mut literal = String::new();
                loop {
                    match chars.next().ok_or_else(invalid_filter)? {
                        '\'' if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        '\'' => break,
                        other => literal.push(other),
                    }
                }
                tokens.push(Token::Text(literal));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '\'' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// The ids of `id eq 'A' or id eq 'B' …` (optionally parenthesised); anything else is refused.
pub(crate) fn parse_id_filter(text: &str) -> Result<Vec<String>, GraphError> {
    let tokens = tokenize(text)?;
    let mut pos = 0;
    let ids = parse_or(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(invalid_filter());
    }
    Ok(ids)
}

fn parse_or(tokens: &[Token], pos: &mut usize) -> Result<Vec<String>, GraphError> {
    let mut ids = parse_term(tokens, pos)?;
    while matches!(tokens.get(*pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case("or")) {
        *pos += 1;
        ids.extend(parse_term(tokens, pos)?);
    }
    Ok(ids)
}

fn parse_term(tokens: &[Token], pos: &mut usize) -> Result<Vec<String>, GraphError> {
    match tokens.get(*pos) {
        Some(Token::Open) => {
            *pos += 1;
            let ids = parse_or(tokens, pos)?;
            if tokens.get(*pos) != Some(&Token::Close) {
                return Err(invalid_filter());
            }
            *pos += 1;
            Ok(ids)
        }
        Some(Token::Word(field)) if field.eq_ignore_ascii_case("id") => {
            match (tokens.get(*pos + 1), tokens.get(*pos + 2)) {
                (Some(Token::Word(op)), Some(Token::Text(id))) if op.eq_ignore_ascii_case("eq") => {
                    *pos += 3;
                    Ok(vec![id.clone()])
                }
                _ => Err(invalid_filter()),
            }
        }
        _ => Err(invalid_filter()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_with_filters_and_or_parses() {
        let q = parse_query(
            Some("$select=Subject,body&$expand=singleValueExtendedProperties($filter=id%20eq%20'String%20%7B00020386-0000-0000-C000-000000000046%7D%20Name%20X-A'%20or%20id%20eq%20'String 0x007D'),attachments"),
            &["$select", "$expand"],
        )
        .unwrap();
        assert_eq!(q.select.unwrap(), vec!["Subject", "body"]);
        assert_eq!(q.expand.len(), 2);
        let ids = parse_id_filter(q.expand[0].filter.as_deref().unwrap()).unwrap();
        assert_eq!(
            ids,
            vec![
                "String {00020386-0000-0000-C000-000000000046} Name X-A",
                "String 0x007D"
            ]
        );
        assert_eq!(q.expand[1].path, "attachments");
    }

    #[test]
    fn plus_in_the_query_is_a_space_and_quotes_escape() {
        let q = parse_query(
            Some("$expand=singleValueExtendedProperties($filter=id+eq+'String+0x7D')"),
            &["$expand"],
        )
        .unwrap();
        assert_eq!(
            parse_id_filter(q.expand[0].filter.as_deref().unwrap()).unwrap(),
            vec!["String 0x7D"]
        );
        assert_eq!(parse_id_filter("(id eq 'it''s')").unwrap(), vec!["it's"]);
    }

    #[test]
    fn other_filters_and_options_are_refused() {
        assert_eq!(
            parse_id_filter("id ne 'x'").unwrap_err().code,
            "ErrorInvalidUrlQueryFilter"
        );
        assert_eq!(
            parse_id_filter("id eq 'x' and value eq 'y'").unwrap_err().code,
            "ErrorInvalidUrlQueryFilter"
        );
        assert_eq!(
            parse_query(Some("$top=5"), &["$select"]).unwrap_err().code,
            "RequestBroker--ParseUri"
        );
        assert!(parse_query(Some("$select=a&$select=b"), &["$select"]).is_err());
        assert!(parse_query(Some("$select=a,,b"), &["$select"]).is_err());
        assert!(parse_query(Some("foo=bar"), &[]).is_ok());
    }
}
