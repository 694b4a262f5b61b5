/* keeps the test library non-empty */
typedef int ims_testlib_empty;
