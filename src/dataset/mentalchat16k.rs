//! Loader for MentalChat16K (ShenLab): `Interview_Data_6K.csv` and `Synthetic_Data_10K.csv`, each
//! with columns `instruction,input,output`.
//!
//! One [`Conversation`] per row: `input` is what the person wrote, `output` the reference
//! response; the instruction is the same fixed sentence on every row and is not kept. Ids are
//! `<file stem>/<row>`, the 0-based data row (as pandas numbers it), so both files share one
//! id space. The files come from a local path or through [`super::hub`].

use std::path::Path;

use super::csv_table::{read_csv, CsvRow};
use super::instruction_pair;
use crate::files::FileError;
use crate::schema::{Conversation, Source};

/// The Hugging Face dataset repository of MentalChat16K.
pub const HUB_REPO: &str = "ShenLab/MentalChat16K";
/// The data files of [`HUB_REPO`].
pub const HUB_FILES: [&str; 2] = ["Interview_Data_6K.csv", "Synthetic_Data_10K.csv"];

/// Load every row of one MentalChat16K CSV, in file order.
///
/// # Errors
/// The file is unreadable, lacks a column, or has malformed or non-UTF-8 rows (all listed).
pub fn load(path: &Path) -> Result<Vec<Conversation>, FileError> {
    let subset = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(read_csv(path, ["input", "output"])?
        .into_iter()
        .enumerate()
        .map(
            |(
                row,
                CsvRow {
                    values: [input, output],
                    ..
                },
            )| {
                instruction_pair(
                    Source::Mentalchat16k,
                    &format!("{subset}/{row}"),
                    &input,
                    &output,
                    &subset,
                )
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_file_and_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Interview_Data_6K.csv");
        std::fs::write(
            &path,
            "instruction,input,output\nI,\"I can't  sleep.\",Try this.\nI,Second,Reply\n",
        )
        .unwrap();
        let rows = load(&path).unwrap();
        assert_eq!(rows[1].id.as_str(), "mentalchat16k:Interview_Data_6K/1");
        assert_eq!(rows[0].context, "I can't sleep.");
        assert_eq!(rows[0].reference_response.as_deref(), Some("Try this."));
    }
}
