module portico.test/echo

go 1.24
