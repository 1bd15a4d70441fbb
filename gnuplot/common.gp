# Shared set-up of brokerbench's graphs; loaded by each script, never run alone.
# Expects: dir (results folder), fmt ("png" or "svg"), out (file name without
# extension), xmin and xmax ("" for automatic).
if (fmt eq "svg") { set terminal svg size 1400,700 dynamic background rgb "white" } \
else { set terminal pngcairo size 1400,700 noenhanced font ",10" }
set output sprintf("%s/%s.%s", dir, out, fmt)
set datafile separator "\t"
set datafile missing "NaN"
set key outside below horizontal noenhanced
set grid
set xlabel "seconds since start"
if (xmin ne "" && xmax ne "") { set xrange [xmin:xmax] } \
else { if (xmin ne "") { set xrange [xmin:*] } }
series = dir."/series.tsv"
steps = dir."/steps.tsv"
# Pace step boundaries: a dotted line at the start of each step.
starts = system(sprintf("awk -F'\t' 'NR>1{printf \"%%s \", $4}' '%s'", steps))
do for [s in starts] { set arrow from s, graph 0 to s, graph 1 nohead dashtype 3 linecolor rgb "gray50" }
# The breaking point (first step that did not hold): a red line.
bp = system(sprintf("awk -F'\t' 'NR>1 && $NF==0 {print $4; exit}' '%s'", steps))
if (bp ne "") { set arrow from bp, graph 0 to bp, graph 1 nohead linewidth 2 linecolor rgb "red"; \
  set label "breaking point" at bp, graph 0.97 offset 0.5,0 textcolor rgb "red" }
