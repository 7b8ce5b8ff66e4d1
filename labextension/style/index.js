import './base.css';
import './dialogs.css';
import './runview.css';
import './lifecycle.css';
import './results.css';
import './links.css';
