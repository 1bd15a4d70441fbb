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
# Columns of steps.tsv are read by name (the header line), as series.tsv's.
# Pace step boundaries: a dotted line at the start of each step.
starts = system(sprintf("awk -F'\t' 'NR==1{for(i=1;i<=NF;i++) c[$i]=i; next} {printf \"%%s \", $c[\"start_second\"]}' '%s'", steps))
do for [s in starts] { set arrow from s, graph 0 to s, graph 1 nohead dashtype 3 linecolor rgb "gray50" }
# The breaking point (first step that did not hold): a red line.
bp = system(sprintf("awk -F'\t' 'NR==1{for(i=1;i<=NF;i++) c[$i]=i; next} $c[\"holds\"]==0 {print $c[\"start_second\"]; exit}' '%s'", steps))
if (bp ne "") { set arrow from bp, graph 0 to bp, graph 1 nohead linewidth 2 linecolor rgb "red"; \
  set label "breaking point" at bp, graph 0.97 offset 0.5,0 textcolor rgb "red" }
# How many rows of series.tsv have a number (not NaN) in a column; 0 when
# the column is missing (results written before it existed).
numbers(col) = int(system(sprintf("awk -F'\t' 'NR==1{for(i=1;i<=NF;i++) if($i==\"%s\") c=i; next} c && $c!=\"NaN\" && $c!=\"\" {n++} END{print n+0}' '%s'", col, series)))
# Seconds with a fault on (--fault): a shaded band over each, drawn by
# ending a script's plot command with @band (last, so the curves keep
# their colours).
faulted = int(system(sprintf("awk -F'\t' 'NR==1{for(i=1;i<=NF;i++) if($i==\"faults_on\") c=i; next} c && $c>0 {n++} END{print n+0}' '%s'", series)))
set boxwidth 1 absolute
band = faulted > 0 ? ', series using (column("second")+0.5):(column("faults_on") > 0 ? 1e15 : 1/0) axes x1y2 with boxes fillstyle transparent solid 0.18 noborder linecolor rgb "orange" title "fault on", ' : ''
