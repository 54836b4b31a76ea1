//! Progress bars, shown only when stderr is a terminal (never in logs, pipes or CI).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner counting the rows of `table`; hidden when stderr is not a terminal.
pub fn rows(table: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix:<22} {human_pos:>10} rows  {per_sec:>14}  {elapsed}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(table.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
