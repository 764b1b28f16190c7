module gopingpong

go 1.22
