//! What the SQL stores share: the schema's columns, and turning rows into records.

pub(crate) mod row;
