//! Plain text tables: a header row, then rows, columns padded to their widest cell.

/// The rows as aligned text, one line each, the first row being the header.
pub fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[column] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Builds a table from a header and rows of anything printable.
pub fn table<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> String {
    let mut all = vec![header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
    all.extend(rows.into_iter().map(|row| row.to_vec()));
    render(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_under_the_widest_cell() {
        let text = table(
            ["ID", "Name", "Status"],
            [
                ["1".to_owned(), "Site".to_owned(), "finished".to_owned()],
                ["12".to_owned(), "Shop ünïcode".to_owned(), String::new()],
            ],
        );
        assert_eq!(
            text,
            "ID  Name          Status\n1   Site          finished\n12  Shop ünïcode\n"
        );
    }
}
