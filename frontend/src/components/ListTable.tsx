/** The list table every page shows: a small MUI table with a header row and one row per item. */
import { Box, Table, TableBody, TableCell, TableHead, TableRow } from '@mui/material';
import type { ReactNode } from 'react';

/** A header cell: its text, or its text and alignment. */
export type Column = string | { label: string; align?: 'left' | 'center' | 'right' };

export interface ListTableProps<T> {
  /** the table's aria-label */
  label: string;
  columns: Column[];
  rows: T[];
  /** one item's `<TableRow key=…>` */
  renderRow: (item: T) => ReactNode;
  className?: string;
  /** the class of the scrolling box around the table, or false for no box */
  box?: string | false;
}

export function ListTable<T>({ label, columns, rows, renderRow, className, box = 'overflow-x-auto' }: ListTableProps<T>) {
  const table = (
    <Table size="small" aria-label={label} className={className}>
      <TableHead>
        <TableRow>
          {columns.map(c =>
            typeof c === 'string' ? (
              <TableCell key={c}>{c}</TableCell>
            ) : (
              <TableCell key={c.label} align={c.align}>
                {c.label}
              </TableCell>
            ),
          )}
        </TableRow>
      </TableHead>
      <TableBody>{rows.map(item => renderRow(item))}</TableBody>
    </Table>
  );
  return box === false ? table : <Box className={box}>{table}</Box>;
}
