//! Priority from impact × urgency (MISSION §4, the stock exchange's matrix by default).
//! The matrix is configuration; empty cells take the **nearest defined** priority: the
//! smallest grid distance (|Δurgency| + |Δimpact|), ties broken first toward the same
//! urgency row (urgency sets the response target), then toward the more urgent priority.
//! The full 5×4 table is computed once, when the matrix is built.

use crate::tickets::model::{Impact, Priority, Urgency};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityMatrix {
    table: [[Priority; 4]; 5],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    #[error("the priority matrix defines no cell")]
    Empty,
    #[error("priority {0} in the matrix is outside 1-5")]
    OutOfRange(u8),
}

/// Rows: urgency highest..planning; columns: impact high..minimal; `None` = empty cell.
pub const DEFAULT_CELLS: [[Option<u8>; 4]; 5] = [
    [Some(1), None, None, None],
    [Some(2), Some(2), None, None],
    [Some(3), Some(3), None, None],
    [None, Some(4), Some(4), None],
    [None, None, Some(5), Some(5)],
];

impl Default for PriorityMatrix {
    fn default() -> Self {
        PriorityMatrix::from_cells(DEFAULT_CELLS).expect("the default matrix is valid")
    }
}

impl PriorityMatrix {
    pub fn from_cells(cells: [[Option<u8>; 4]; 5]) -> Result<PriorityMatrix, MatrixError> {
        let mut defined = Vec::new();
        for (u, row) in cells.iter().enumerate() {
            for (i, cell) in row.iter().enumerate() {
                if let Some(p) = cell {
                    let p = Priority::new(*p).ok_or(MatrixError::OutOfRange(*p))?;
                    defined.push((u, i, p));
                }
            }
        }
        if defined.is_empty() {
            return Err(MatrixError::Empty);
        }
        let mut table = [[defined[0].2; 4]; 5];
        for (u, row) in table.iter_mut().enumerate() {
            for (i, slot) in row.iter_mut().enumerate() {
                *slot = defined
                    .iter()
                    .min_by_key(|(du, di, p)| (u.abs_diff(*du) + i.abs_diff(*di), *du != u, *p))
                    .map(|(_, _, p)| *p)
                    .expect("non-empty");
            }
        }
        Ok(PriorityMatrix { table })
    }

    pub fn priority(&self, impact: Impact, urgency: Urgency) -> Priority {
        self.table[urgency as usize][impact as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_of_the_default_matrix() {
        // Each urgency row of the regulation's matrix holds one priority, so every empty cell
        // takes its own row's: in the default, priority follows urgency.
        let m = PriorityMatrix::default();
        for (row, u) in Urgency::ALL.iter().enumerate() {
            for i in Impact::ALL {
                assert_eq!(m.priority(*i, *u).get(), row as u8 + 1, "{u} × {i}");
            }
        }
    }

    #[test]
    fn nearest_cell_rules_in_a_custom_matrix() {
        // Only two cells: highest × high = 1 and planning × low = 5.
        let mut cells = [[None; 4]; 5];
        cells[0][0] = Some(1);
        cells[4][2] = Some(5);
        let m = PriorityMatrix::from_cells(cells).unwrap();
        assert_eq!(
            m.priority(Impact::Minimal, Urgency::Highest).get(),
            1,
            "distance 3 vs 5"
        );
        assert_eq!(
            m.priority(Impact::High, Urgency::Planning).get(),
            5,
            "distance 2 vs 4"
        );
        assert_eq!(
            m.priority(Impact::Medium, Urgency::High).get(),
            1,
            "distance 2 vs 4"
        );
        assert_eq!(
            m.priority(Impact::Low, Urgency::Low).get(),
            5,
            "distance 1 vs 5"
        );
        // Equal distance (3 and 3) and neither in the row: the more urgent priority.
        assert_eq!(m.priority(Impact::Medium, Urgency::Medium).get(), 1);
        // Equal distance with one in the same row: the row wins.
        let mut cells = [[None; 4]; 5];
        cells[2][0] = Some(2);
        cells[1][1] = Some(1);
        let m = PriorityMatrix::from_cells(cells).unwrap();
        assert_eq!(
            m.priority(Impact::Medium, Urgency::Medium).get(),
            2,
            "row over the more urgent"
        );
    }

    #[test]
    fn defined_cells_are_kept() {
        let m = PriorityMatrix::default();
        assert_eq!(m.priority(Impact::High, Urgency::Highest).get(), 1);
        assert_eq!(m.priority(Impact::Medium, Urgency::Low).get(), 4);
        assert_eq!(m.priority(Impact::Minimal, Urgency::Planning).get(), 5);
    }

    #[test]
    fn an_empty_or_out_of_range_matrix_is_refused() {
        assert_eq!(
            PriorityMatrix::from_cells([[None; 4]; 5]),
            Err(MatrixError::Empty)
        );
        let mut cells = DEFAULT_CELLS;
        cells[0][0] = Some(9);
        assert_eq!(
            PriorityMatrix::from_cells(cells),
            Err(MatrixError::OutOfRange(9))
        );
    }
}
