module layout

go 1.20
