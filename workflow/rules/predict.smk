"""Apply trained taggers to files of your own: `snakemake predict` (config section `predict`)."""
