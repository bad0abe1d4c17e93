"""Display pieces every lesson uses: tables, chart colours and PNG rendering, live loops, progress bars."""
