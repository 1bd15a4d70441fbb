# The right axis from 0 to 15% above the largest of the columns named in
# the arguments, so a rate at the axis maximum is not drawn on the frame.
#   call "headroom.gp" "COLUMN" ["COLUMN" ...]   (after common.gp)
top = 1
do for [i=1:ARGC] {
  stats series using (column(value("ARG".i))) nooutput
  if (STATS_max > top) { top = STATS_max }
}
set y2range [0:top * 1.15]
