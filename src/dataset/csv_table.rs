//! Reading a source CSV by column name, with every bad row reported as `path:line: what; fix`.
//!
//! Shared by the CounselChat, MentalChat16K and MentalBench loaders so that a missing column, a
//! row with the wrong number of fields or invalid UTF-8 reads the same whatever the source. It
//! knows nothing about what the columns mean.

use std::path::Path;

use crate::files::{ErrorList, FileError};

/// One data row: its 1-based line in the file (where the record starts) and the values of the
/// requested columns, in the order they were asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow<const N: usize> {
    /// Line of the file where the record starts (the header is line 1).
    pub line: usize,
    /// Values of the requested columns.
    pub values: [String; N],
}

/// Read every row of `path`, keeping the `columns` named (found by header name, in any order).
///
/// # Errors
/// The file is unreadable; a column is missing (line 1); or rows are malformed or not UTF-8
/// (every such row is listed, up to the reporting cap).
pub fn read_csv<const N: usize>(
    path: &Path,
    columns: [&str; N],
) -> Result<Vec<CsvRow<N>>, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|e| into_file_error(path, e))?;
    let headers = reader
        .headers()
        .map_err(|e| into_file_error(path, e))?
        .clone();
    let positions = column_positions(path, &headers, columns)?;
    let mut rows = Vec::new();
    let mut errors = ErrorList::default();
    for result in reader.records() {
        match result {
            Ok(record) => {
                let line = record.position().map_or(0, |p| to_usize(p.line()));
                let values = positions.map(|i| record.get(i).unwrap_or_default().to_owned());
                rows.push(CsvRow { line, values });
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => return Err(into_file_error(path, e)),
                _ => errors.push(locate(path, &headers, &e)),
            },
        }
    }
    errors.into_result(rows)
}

fn column_positions<const N: usize>(
    path: &Path,
    headers: &csv::StringRecord,
    columns: [&str; N],
) -> Result<[usize; N], FileError> {
    let found = columns.map(|name| headers.iter().position(|h| h.trim() == name));
    let missing: Vec<&str> = columns
        .iter()
        .zip(found.iter())
        .filter(|(_, position)| position.is_none())
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        let have = headers.iter().collect::<Vec<_>>().join(", ");
        return Err(FileError::at(
            path,
            Some(1),
            format!(
                "missing column `{}`; the header has: {have}; is this the right file?",
                missing.join("`, `")
            ),
        ));
    }
    Ok(found.map(|position| position.unwrap_or_default()))
}

fn locate(path: &Path, headers: &csv::StringRecord, error: &csv::Error) -> crate::files::Located {
    let line = error.position().map(|p| to_usize(p.line()));
    let message = match error.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            let column = headers.get(err.field()).unwrap_or("?");
            format!("column `{column}`: invalid UTF-8; save the file as UTF-8")
        }
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => format!(
            "row has {len} fields, the header has {expected_len}; quote fields that contain commas or line breaks"
        ),
        _ => error.to_string(),
    };
    crate::files::Located {
        path: path.to_owned(),
        line,
        message,
    }
}

fn into_file_error(path: &Path, error: csv::Error) -> FileError {
    let line = error.position().map(|p| to_usize(p.line())).or(Some(1));
    match error.into_kind() {
        csv::ErrorKind::Io(io) => FileError::io(path, io),
        csv::ErrorKind::Utf8 { .. } => {
            FileError::at(path, line, "header: invalid UTF-8; save the file as UTF-8")
        }
        other => FileError::at(path, line, format!("{other:?}")),
    }
}

fn to_usize(line: u64) -> usize {
    usize::try_from(line).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join("t.csv");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn finds_columns_by_name_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, b"b,a\n1,\"x\ny\"\n2,z\n");
        let rows = read_csv(&path, ["a", "b"]).unwrap();
        assert_eq!(rows[0].values, ["x\ny".to_owned(), "1".to_owned()]);
        assert_eq!((rows[0].line, rows[1].line), (2, 4));
    }

    #[test]
    fn names_missing_columns_on_line_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, b"a,b\n1,2\n");
        let err = read_csv(&path, ["a", "c", "d"]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:1: missing column `c`, `d`; the header has: a, b; is this the right file?",
                path.display()
            )
        );
    }

    #[test]
    fn lists_every_bad_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, b"a,b\n1,2,3\n4,5\n6,\xff\n");
        let err = read_csv(&path, ["a"]).unwrap_err().to_string();
        let p = path.display();
        assert_eq!(
            err,
            format!(
                "{p}:2: row has 3 fields, the header has 2; quote fields that contain commas or line breaks\n{p}:4: column `b`: invalid UTF-8; save the file as UTF-8"
            )
        );
    }
}
