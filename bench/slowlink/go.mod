module drkit.bench/slowlink

go 1.22
