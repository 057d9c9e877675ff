module tracecart/deploy/cluster/pause

go 1.26.0
