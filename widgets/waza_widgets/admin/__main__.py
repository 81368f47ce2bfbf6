from waza_widgets.admin.service import main

raise SystemExit(main())
